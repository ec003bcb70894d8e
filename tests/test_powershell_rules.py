"""What the PowerShell rules count as a read before assignment and as a broad grant,
on small scripts: each rule catches its case and leaves the correct variant alone."""

from __future__ import annotations

import powershell
import pytest

READ_BEFORE_ASSIGNMENT = {
    "never assigned": "Write-Host $Missing",
    "assigned after the read": "Write-Host $a\n$a = 1",
    "assigned in one branch only": "if ($true) { $a = 1 }\nWrite-Host $a",
    "assigned in if and elseif, no else": "if ($true) { $a = 1 } elseif ($false) { $a = 2 }\n$a",
    "loop variable after the loop": "foreach ($d in @(1)) { $d }\n$d",
    "property of an unassigned object": "$o.Name = 1",
    "compound assignment": "$n += 1",
    "inside an expandable string": '$x = "at ${Missing}:1"',
    "inside a script block": "Get-Item x | Where-Object { $_.Name -eq $q }",
    "function called before the global it reads": "function F {\n    Write-Host $Y\n}\nF\n$Y = 1",
    "exit code before any native command": "if ($LASTEXITCODE -ne 0) { throw 'x' }",
}
ASSIGNED_FIRST = {
    "assigned, then read": "$a = 1\nWrite-Host $a",
    "assigned in every branch": "if ($true) { $a = 1 } else { $a = 2 }\n$a",
    "several at once": "$b, $c = 1, 2\n$b; $c",
    "script parameter": "param([string]$Path = 'x')\n$Path",
    "function parameter": "function F {\n    param([string]$X)\n    $X\n}\nF -X 1",
    "global set before the call": "function F {\n    Write-Host $Y\n}\n$Y = 1\nF",
    "pipeline variable": "Get-Item x | Where-Object { $_.Name }",
    "environment and automatic": "$env:NOPE; $PSScriptRoot; $null",
    "exit code after a native command": "& sc.exe query | Out-Null\nif ($LASTEXITCODE -ne 0) { throw 'x' }",
}
BROAD_GRANTS = {
    "Users by SID": "icacls.exe C:\\d /grant '*S-1-5-32-545:(OI)(CI)R'",
    "BUILTIN\\Users by name": "icacls C:\\d /grant BUILTIN\\Users:R",
    "Authenticated Users": 'icacls C:\\d /grant "NT AUTHORITY\\Authenticated Users:(RX)"',
    "Everyone through a variable": "$who = 'Everyone'\nicacls.exe $d /grant:r \"${who}:F\"",
    "access rule for Users": "New-Object System.Security.AccessControl.FileSystemAccessRule('Users', 'Read', 'Allow')",
    "access rule for Everyone by SID":
        "[System.Security.AccessControl.FileSystemAccessRule]::new('S-1-1-0', 'Read', 'Allow')",
    "well-known World SID":
        "New-Object System.Security.Principal.SecurityIdentifier([System.Security.Principal.WellKnownSidType]::WorldSid, $null)",
}
NARROW_GRANTS = {
    "SYSTEM under C:\\Users": "icacls C:\\Users\\x /grant '*S-1-5-18:F'",
    "removing Users": "icacls C:\\d /remove:g '*S-1-5-32-545'",
    "a comment naming Everyone": "# Everyone is left out\nicacls C:\\d /grant '*S-1-5-32-544:F'",
}


@pytest.mark.parametrize("script", READ_BEFORE_ASSIGNMENT.values(), ids=READ_BEFORE_ASSIGNMENT)
def test_read_before_assignment_is_reported(script: str) -> None:
    assert powershell.strict_mode_problems("case.ps1", script.encode())


@pytest.mark.parametrize("script", ASSIGNED_FIRST.values(), ids=ASSIGNED_FIRST)
def test_read_after_assignment_is_not_reported(script: str) -> None:
    assert powershell.strict_mode_problems("case.ps1", script.encode()) == []


@pytest.mark.parametrize("script", BROAD_GRANTS.values(), ids=BROAD_GRANTS)
def test_broad_grant_is_reported(script: str) -> None:
    assert powershell.broad_grant_problems("case.ps1", script.encode())


@pytest.mark.parametrize("script", NARROW_GRANTS.values(), ids=NARROW_GRANTS)
def test_narrow_grant_is_not_reported(script: str) -> None:
    assert powershell.broad_grant_problems("case.ps1", script.encode()) == []
