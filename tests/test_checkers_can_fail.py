"""Each checker wrapper reports a real finding: break one artifact, see it caught."""

from __future__ import annotations

import shutil
from pathlib import Path

import checkers
import pytest

pytestmark = pytest.mark.checkers


@pytest.fixture
def broken(render_scenario, tmp_path: Path):
    tree = tmp_path / "tree"
    shutil.copytree(render_scenario("defaults"), tree)

    def _break(relative: str, old: str, new: str) -> Path:
        path = tree / relative
        text = path.read_text()
        assert old in text, f"{old!r} not in {relative}"
        path.write_text(text.replace(old, new, 1))
        return tree

    return _break


UNIT = "deployments/linux/tokmesh-server.service"


def test_shellcheck_reports_an_unquoted_variable(broken) -> None:
    tree = broken("scripts/uninstall-linux.sh", "purge=false\n", "purge=false\nls $1\n")
    assert any("SC2086" in line for line in checkers.shellcheck(tree))


def test_bash_syntax_reports_an_unclosed_if(broken) -> None:
    tree = broken("scripts/install-linux.sh", "fi\n", "\n")
    assert checkers.bash_syntax(tree)


def test_systemd_verify_reports_an_unknown_key(broken, tmp_path: Path) -> None:
    tree = broken(UNIT, "RestartSec=", "RestartSecc=")
    assert any("Unknown key" in line for line in checkers.systemd_verify(tree, tmp_path))


def test_exposure_score_rises_without_the_sandbox(broken) -> None:
    tree = broken(UNIT, "ProtectSystem=strict\n", "")
    tree = broken(UNIT, "PrivateUsers=true\n", "")
    assert checkers.exposure_score(tree / UNIT) > 1.1


def test_hadolint_reports_a_latest_base(broken) -> None:
    tree = broken("Dockerfile", "FROM alpine:3.20", "FROM alpine:latest")
    assert any("DL3007" in line for line in checkers.hadolint(tree))


def test_checkov_reports_a_privileged_container(broken) -> None:
    tree = broken("deployments/kubernetes/statefulset.yaml", "allowPrivilegeEscalation: false",
                  "allowPrivilegeEscalation: true")
    assert any("CKV_K8S_20" in line for line in checkers.checkov(tree)["failed"])


def test_compose_config_reports_an_unknown_key(broken) -> None:
    tree = broken("deployments/docker/docker-compose.yaml", "    read_only: true", "    read_olny: true")
    assert checkers.compose_config(tree)


def test_kubernetes_validate_reports_an_unknown_field(broken) -> None:
    tree = broken("deployments/kubernetes/statefulset.yaml", "  podManagementPolicy:", "  podManagementPolicyy:")
    assert checkers.kubernetes_validate(tree, checkers.KUBERNETES_VERSIONS[-1])


def test_kustomization_check_reports_an_unlisted_manifest(broken) -> None:
    tree = broken("deployments/kubernetes/kustomization.yaml", "  - networkpolicy.yaml\n", "")
    assert checkers.kustomization_lists_every_manifest(tree) == ["kustomization.yaml: networkpolicy.yaml not listed"]


def test_kustomization_check_reports_the_namespace_among_what_removal_deletes(broken) -> None:
    tree = broken("deployments/kubernetes/kustomization.yaml", "resources:\n", "resources:\n  - namespace.yaml\n")
    assert checkers.kustomization_lists_every_manifest(tree) == [
        "kustomization.yaml: namespace.yaml listed: 'kubectl delete -k' would delete it, and the claims in it"]


def test_yamllint_reports_a_duplicate_key(broken) -> None:
    tree = broken("configs/server/config.yaml", "log:\n", "log:\n  level: debug\n")
    assert any("duplicate" in line for line in checkers.yamllint(tree))


def test_powershell_parser_reports_an_unclosed_block_and_non_ascii(broken) -> None:
    tree = broken("scripts/install-windows.ps1", "if ($NoStart) {", "if ($NoStart) { {")
    tree = broken("scripts/uninstall-windows.ps1", "Removed $ServiceName.", "Removed $ServiceName \u2013 done.")
    problems = checkers.powershell_problems(tree)
    assert any("install-windows.ps1" in p and "node" in p for p in problems)
    assert "uninstall-windows.ps1: not ASCII" in problems


def test_text_check_reports_unrendered_jinja_and_trailing_space(broken) -> None:
    tree = broken("README.md", "# TokMesh deployment:", "# TokMesh {{ deployment }}: \n")
    problems = checkers.text_problems(tree)
    assert "README.md: unrendered Jinja" in problems
    assert any("trailing whitespace" in p for p in problems)


def test_text_check_tells_unrendered_jinja_from_a_go_template_field(broken) -> None:
    readme = lambda tree: [p for p in checkers.text_problems(tree) if p.startswith("README.md")]  # noqa: E731
    tree = broken("README.md", "# TokMesh deployment:", "# TokMesh: docker inspect --format '{{.Image}}'")
    assert readme(tree) == []
    tree = broken("README.md", "# TokMesh: docker", "# TokMesh {{tm.service_name}}: docker")
    assert readme(tree) == ["README.md: unrendered Jinja"]


def test_strict_mode_rule_reports_a_variable_the_installer_never_assigns(broken) -> None:
    tree = broken("scripts/install-windows.ps1", "$CertDir = ", "$CertFolder = ")
    problems = checkers.powershell_strict_mode_problems(tree)
    assert problems and all("$certdir is read before it is assigned" in p for p in problems)


def test_strict_mode_rule_reports_a_function_parameter_that_was_dropped(broken) -> None:
    tree = broken("scripts/install-windows.ps1", "param([string]$FilePath, [string[]]$ArgumentList)",
                  "param([string]$FilePath)")
    assert any("$argumentlist is read" in p for p in checkers.powershell_strict_mode_problems(tree))


def test_strict_mode_rule_reports_lastexitcode_before_any_native_command(broken) -> None:
    tree = broken("scripts/uninstall-windows.ps1", "    & sc.exe delete $ServiceName | Out-Null\n",
                  "    Remove-Service -Name $ServiceName\n")
    assert any("$lastexitcode is read" in p for p in checkers.powershell_strict_mode_problems(tree))


def test_grant_rule_reports_users_read_on_the_data_root(broken) -> None:
    tree = broken("scripts/install-windows.ps1", '"${ServiceSid}:(RX)"', '"*S-1-5-32-545:(OI)(CI)RX"')
    assert any("'*S-1-5-32-545'" in p for p in checkers.powershell_broad_grant_problems(tree))


def test_grant_rule_reports_everyone_through_a_variable(broken) -> None:
    tree = broken("scripts/install-windows.ps1", "$ServiceSid = '*S-1-5-80-", "$ServiceSid = 'Everyone' # '*S-1-5-80-")
    assert any("'Everyone'" in p for p in checkers.powershell_broad_grant_problems(tree))


def test_grant_rule_reports_users_modify_on_the_program_folder(broken) -> None:
    tree = broken("scripts/install-windows.ps1", '"${UsersSid}:ReadAndExecute"', '"${UsersSid}:Modify"')
    assert any("'Modify'" in p and "S-1-5-32-545" in p for p in checkers.powershell_broad_grant_problems(tree))


def test_grant_rule_reports_users_read_on_the_data_root_through_set_own_access(broken) -> None:
    tree = broken("scripts/install-windows.ps1",
                  'Set-OwnAccess -Path $DataRoot -Grants @("${SystemSid}:FullControl"',
                  'Set-OwnAccess -Path $DataRoot -Grants @("${UsersSid}:ReadAndExecute", "${SystemSid}:FullControl"')
    assert any("on $dataroot" in p for p in checkers.powershell_broad_grant_problems(tree))


def test_copy_rule_reports_an_upgrade_that_does_not_wait_for_the_process(broken) -> None:
    tree = broken("scripts/upgrade-windows.ps1", "    Stop-ServiceAndWait\n    Copy-Item -LiteralPath $ServerExe",
                  "    Stop-Service -Name $ServiceName -Force\n    Copy-Item -LiteralPath $ServerExe")
    problems = checkers.powershell_unwaited_copy_problems(tree)
    assert problems and all(p.startswith("upgrade-windows.ps1:") for p in problems)


def test_copy_rule_reports_an_install_that_copies_before_it_stops(broken) -> None:
    tree = broken("scripts/install-windows.ps1", "    if ($wasRunning) { Stop-ServiceAndWait }\n", "")
    assert any("install-windows.ps1" in p and "after no stop" in p for p in checkers.powershell_unwaited_copy_problems(tree))


def test_finally_rule_reports_a_restore_that_does_not_start_the_service_again(broken) -> None:
    tree = broken("scripts/restore-windows.ps1", "    if ($wasRunning) { Start-Service -Name $ServiceName }\n",
                  "    Write-Host 'done'\n")
    assert any(p.startswith("restore-windows.ps1:") for p in checkers.powershell_unrestored_stop_problems(tree))


def test_finally_rule_reports_a_backup_without_finally(broken) -> None:
    tree = broken("scripts/backup-windows.ps1", "} finally {", "}\nif ($true) {")
    assert any(p.startswith("backup-windows.ps1:") for p in checkers.powershell_unrestored_stop_problems(tree))
