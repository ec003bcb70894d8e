"""What the PowerShell rules count as a read before assignment, a broad grant, a copy
onto the executable without a waited stop and a stop no finally undoes, on small
scripts: each rule catches its case and leaves the correct variant alone."""

from __future__ import annotations

import powershell
import pytest
from conftest import SCENARIOS, scenario_answers
from tokmesh_answers import validate_answers

WINDOWS_SCENARIOS = [n for n in SCENARIOS if validate_answers(scenario_answers(n)).windows]
RULES = (powershell.strict_mode_problems, powershell.broad_grant_problems, powershell.unwaited_copy_problems,
         powershell.unrestored_stop_problems)

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
    "Users modify on the program folder":
        "$UsersSid = '*S-1-5-32-545'\nSet-OwnAccess -Path $InstallDir -Grants @(\"${UsersSid}:Modify\")",
    "Users full control on the program folder by icacls":
        "Invoke-Native icacls.exe @($InstallDir, '/grant:r', '*S-1-5-32-545:(OI)(CI)F')",
    "Users read on the data root": "$UsersSid = '*S-1-5-32-545'\nSet-OwnAccess -Path $DataRoot -Grants @(\"${UsersSid}:ReadAndExecute\")",
    "Authenticated Users write, several rights": "Set-OwnAccess -Path $InstallDir -Grants @('Authenticated Users:Read, Write')",
    "a foreach over principals, icacls":
        "$UsersSid = '*S-1-5-32-545'\nforeach ($who in @($ServiceSid, $UsersSid)) {\n    icacls.exe $InstallDir /grant:r \"${who}:M\"\n}",
    "a foreach over principals, an access rule":
        "foreach ($who in @('S-1-1-0')) {\n    $acl.AddAccessRule((New-Object System.Security.AccessControl.FileSystemAccessRule($who, 'Modify', 'Allow')))\n}",
}
NARROW_GRANTS = {
    "SYSTEM under C:\\Users": "icacls C:\\Users\\x /grant '*S-1-5-18:F'",
    "removing Users": "icacls C:\\d /remove:g '*S-1-5-32-545'",
    "a comment naming Everyone": "# Everyone is left out\nicacls C:\\d /grant '*S-1-5-32-544:F'",
    "Users read and execute on the program folder":
        "$UsersSid = '*S-1-5-32-545'\nSet-OwnAccess -Path $InstallDir -Grants @(\"${UsersSid}:ReadAndExecute\")",
    "Users read in the bin folder by icacls": "icacls.exe $BinDir /grant:r '*S-1-5-32-545:(OI)(CI)RX'",
    "a foreach over narrow principals":
        "foreach ($who in @('*S-1-5-18', '*S-1-5-32-544')) {\n    icacls.exe $DataRoot /grant:r \"${who}:F\"\n}",
}

# The service's executable, as the scripts name it, and a waited stop as they define it.
EXECUTABLE = "$ServerExe = 'C:\\P\\bin\\tokmesh-server.exe'\n"
WAITED_STOP = ("function Stop-ServiceAndWait {\n    Stop-Service -Name x -Force\n"
               "    $p = Get-Process -Id 1\n    $p.WaitForExit(1000) | Out-Null\n}\n")
STARTER = "function Restart-AndWait {\n    Start-Service -Name x\n}\n"
UNWAITED_COPIES = {
    "after a bare Stop-Service": EXECUTABLE + "Stop-Service -Name x -Force\nCopy-Item -LiteralPath $n -Destination $ServerExe",
    "with no stop at all": EXECUTABLE + "Copy-Item -LiteralPath $n -Destination $ServerExe -Force",
    "a move, positional destination": EXECUTABLE + "Stop-Service x\nMove-Item $Previous $ServerExe",
    "after the service was started again": EXECUTABLE + WAITED_STOP + STARTER
        + "Stop-ServiceAndWait\nRestart-AndWait\nCopy-Item -LiteralPath $p -Destination $ServerExe",
    "onto a literal .exe path": WAITED_STOP + "Stop-Service x\nCopy-Item $n 'C:\\P\\bin\\tokmesh-server.exe'",
    "a stop function that does not wait": EXECUTABLE
        + "function Stop-Quickly {\n    Stop-Service -Name x\n}\nStop-Quickly\nCopy-Item $n $ServerExe",
}
WAITED_COPIES = {
    "after a waited stop": EXECUTABLE + WAITED_STOP + "Stop-ServiceAndWait\nCopy-Item -LiteralPath $n -Destination $ServerExe",
    "a waited stop in a branch before": EXECUTABLE + WAITED_STOP
        + "if ($wasRunning) { Stop-ServiceAndWait }\nCopy-Item -LiteralPath $n -Destination $ServerExe",
    "away from the executable": EXECUTABLE + "Stop-Service x\nMove-Item -LiteralPath $ServerExe -Destination \"$ServerExe.swap\"",
    "the CLI into the folder": EXECUTABLE + "Copy-Item -LiteralPath $cli -Destination $BinDir",
}
UNRESTORED_STOPS = {
    "a stop with no try": "Stop-Service -Name x -Force\nCopy-Item a b\nStart-Service -Name x",
    "a finally that does not start": "try {\n    Stop-Service -Name x\n} finally {\n    Write-Host done\n}",
    "a start in catch only": "try {\n    Stop-Service -Name x\n} catch {\n    Start-Service -Name x\n}",
    "a wrapped stop with no try": WAITED_STOP + "Stop-ServiceAndWait\nStart-Service -Name x",
    "a stop in the finally itself": "try {\n    Copy-Item a b\n} finally {\n    Stop-Service -Name x\n    Start-Service -Name x\n}",
}
RESTORED_STOPS = {
    "a stop undone in finally": "try {\n    Stop-Service -Name x\n} finally {\n    Start-Service -Name x\n}",
    "a wrapped stop in a nested block": WAITED_STOP + STARTER
        + "try {\n    if ($a) { Stop-ServiceAndWait }\n} finally {\n    if ($b) { Restart-AndWait }\n}",
    "a script that deletes the service": "Stop-Service -Name x\n& sc.exe delete x | Out-Null",
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


@pytest.mark.parametrize("script", UNWAITED_COPIES.values(), ids=UNWAITED_COPIES)
def test_copy_onto_the_executable_without_a_waited_stop_is_reported(script: str) -> None:
    assert powershell.unwaited_copy_problems("case.ps1", script.encode())


@pytest.mark.parametrize("script", WAITED_COPIES.values(), ids=WAITED_COPIES)
def test_copy_after_a_waited_stop_is_not_reported(script: str) -> None:
    assert powershell.unwaited_copy_problems("case.ps1", script.encode()) == []


@pytest.mark.parametrize("script", UNRESTORED_STOPS.values(), ids=UNRESTORED_STOPS)
def test_stop_without_a_start_in_finally_is_reported(script: str) -> None:
    assert powershell.unrestored_stop_problems("case.ps1", script.encode())


@pytest.mark.parametrize("script", RESTORED_STOPS.values(), ids=RESTORED_STOPS)
def test_stop_undone_in_finally_is_not_reported(script: str) -> None:
    assert powershell.unrestored_stop_problems("case.ps1", script.encode()) == []


@pytest.mark.parametrize("scenario", WINDOWS_SCENARIOS)
def test_every_scenario_s_scripts_pass_every_rule(render_scenario, scenario: str) -> None:
    """Here too, not only among the checkers, so `make test-fast` holds the scripts to them."""
    scripts = sorted((render_scenario(scenario) / "scripts").glob("*.ps1"))
    assert len(scripts) == 5
    assert [p for script in scripts for rule in RULES for p in rule(script.name, script.read_bytes())] == []
