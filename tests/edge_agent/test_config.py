"""agent.toml errors name the file, the key and the problem, and the agent refuses to start on them."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge_agent.cli import main
from edge_agent.config import ConfigError, load_config

VALID = """\
[agent]
name = "agent-1"
regency = "16.71"
state_dir = "state"

[broker]
host = "central.example"

[tls]
ca_file = "ca.crt"
cert_file = "agent-1.crt"
key_file = "agent-1.key"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "agent.toml"
    path.write_text(text)
    return path


def errors(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    return str(caught.value).splitlines()


@pytest.mark.parametrize(("extra", "expected"), [
    ('[agent.extra]\n', "{path}:agent.extra: unknown key"),
    ('[schedule]\ninterval_s = 0\n', "{path}:schedule.interval_s: Input should be greater than or equal to 1"),
    ('[schedule]\nconcurency = 4\n', "{path}:schedule.concurency: unknown key"),
    ('[outbox]\nmax_bytes = 100\n', "{path}:outbox.max_bytes: Input should be greater than or equal to 16384"),
    ('[discovery]\nranges = ["10.0.0.0/33"]\n', "{path}:discovery.ranges.0: Input is not a valid IPv4 network"),
    ('[discovery]\nranges = ["10.0.0.5/24"]\n', "{path}:discovery.ranges.0: host bits set: did you mean 10.0.0.0/24?"),
    ('[[networks]]\ncidr = "10.1.2.3/16"\n', "{path}:networks.0.cidr: host bits set: did you mean 10.1.0.0/16?"),
    ('[[networks]]\ncidr = "10.1.0.0/16"\npasword = "x"\n', "{path}:networks.0.pasword: unknown key"),
    ('[[cameras]]\nid = "cam 1"\nhost = "10.0.0.1"\n', "{path}:cameras.0.id: String should match pattern"),
    ('[[cameras]]\nid = "cam-1"\nhost = "10.0.0.1"\nport = 70000\n',
     "{path}:cameras.0.port: Input should be less than or equal to 65535"),
    ('[[cameras]]\nid = "cam-1"\nhost = "10.0.0.1"\n[[cameras]]\nid = "cam-1"\nhost = "10.0.0.2"\n',
     "{path}:cameras: camera id 'cam-1' is used twice (cameras.0 and cameras.1)"),
    ('[[cameras]]\nid = "cam-1"\nhost = "10.0.0.1"\nonvif_url = "10.0.0.1/onvif"\n',
     "{path}:cameras.0.onvif_url: Value error, onvif_url must be an http:// or https:// URL with a host"),
    ('[[websites]]\nid = "dinkes"\nurl = "ftp://dinkes.example"\n',
     "{path}:websites.0.url: Value error, must be an http:// or https:// URL with a host name"),
    ('[[websites]]\nid = "dinkes"\nurl = "https://dinkes.example"\n[[websites]]\nid = "x"\nurl = "https://x.example"\n'
     'interval_s = 1\n', "{path}:websites.1.interval_s: Input should be greater than or equal to 10"),
])
def test_one_line_per_problem_names_file_and_key(tmp_path: Path, extra: str, expected: str) -> None:
    path = write(tmp_path, VALID + extra)
    lines = errors(path)
    assert any(line.startswith(expected.format(path=path)) for line in lines), lines


def test_every_problem_is_listed_at_once(tmp_path: Path) -> None:
    path = write(tmp_path, VALID.replace('regency = "16.71"', 'regency = "99.99"')
                 + "[schedule]\ninterval_s = -1\noffline_after = 0\n")
    lines = errors(path)
    assert len(lines) == 3
    assert all(line.startswith(f"{path}:") for line in lines)
    assert {line.split(":")[1] for line in lines} == {"agent.regency", "schedule.interval_s",
                                                       "schedule.offline_after"}


def test_missing_sections_and_unreadable_files(tmp_path: Path) -> None:
    path = write(tmp_path, '[agent]\nname = "agent-1"\nregency = "16.71"\n')
    assert errors(path) == [f"{path}:broker: Field required", f"{path}:tls: Field required"]
    broken = write(tmp_path, "[agent\nname = 1\n")
    assert errors(broken)[0].startswith(f"{broken}: not valid TOML:")
    missing = tmp_path / "nowhere.toml"
    assert errors(missing) == [f"{missing}: file not found (enroll first: scc-agent enroll BUNDLE)"]


def test_relative_paths_are_relative_to_the_file(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, VALID))
    assert config.tls.ca_file == tmp_path / "ca.crt"
    assert config.tls.key_file == tmp_path / "agent-1.key"


def test_network_defaults_and_camera_overrides(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, VALID + """
[[networks]]
cidr = "10.0.0.0/8"
username = "wide"
password = "wide-pass"
[[networks]]
cidr = "10.5.0.0/16"
username = "narrow"
password = "narrow-pass"
opd = "dinkes"
[[cameras]]
id = "cam-1"
host = "10.5.0.9"
username = "own"
password = "own-pass"
"""))
    assert config.credentials_for("10.5.1.1") == ("narrow", "narrow-pass")
    assert config.credentials_for("10.6.1.1") == ("wide", "wide-pass")
    assert config.credentials_for("192.168.1.1") == ("", "")
    assert config.credentials_for("10.5.0.9", config.cameras[0]) == ("own", "own-pass")
    network = config.network_for("10.5.0.9")
    assert network is not None and network.opd == "dinkes"


@pytest.mark.parametrize("command", [["check"], ["run"], ["discover"], ["check", "--websites"]])
def test_the_cli_refuses_to_start_on_a_bad_file(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                               command: list[str]) -> None:
    path = write(tmp_path, VALID + "[schedule]\ninterval_s = -1\n[agent.colour]\n")
    assert main(["--config", str(path), *command]) == 2
    error = capsys.readouterr().err
    assert "bad configuration, not starting" in error
    assert f"{path}:agent.colour: unknown key" in error
    assert f"{path}:schedule.interval_s: Input should be greater than or equal to 1" in error


def test_doctor_names_the_bad_key_and_fails(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, VALID + "[broker.extra]\n")
    assert main(["--config", str(path), "doctor"]) == 1
    out = capsys.readouterr().out
    assert f"FAIL  configuration: {path}:broker.extra: unknown key" in out
    assert "fix the key named above" in out


def test_websites_files_are_merged_with_inline_websites(tmp_path: Path) -> None:
    (tmp_path / "opds.toml").write_text('[defaults]\ninterval_s = 600\n[[websites]]\nid = "dinkes-prov"\n'
                                        'url = "https://dinkes.sumselprov.go.id"\n')
    path = write(tmp_path, 'websites_files = ["opds.toml"]\n' + VALID +
                 '[[websites]]\nid = "dinkes"\nurl = "https://dinkes.example"\n')
    config = load_config(path)
    assert [(w.id, w.interval_s) for w in config.websites] == [("dinkes", 300.0), ("dinkes-prov", 600.0)]


def test_websites_files_refuse_an_id_defined_twice_and_a_missing_file(tmp_path: Path) -> None:
    (tmp_path / "opds.toml").write_text('[[websites]]\nid = "dinkes"\nurl = "https://dinkes.sumselprov.go.id"\n')
    path = write(tmp_path, 'websites_files = ["opds.toml"]\n' + VALID +
                 '[[websites]]\nid = "dinkes"\nurl = "https://dinkes.example"\n')
    assert errors(path) == [f"{tmp_path / 'opds.toml'}:websites.0.id: website id 'dinkes' is already defined "
                            f"({path}:websites.0)"]
    path = write(tmp_path, f'websites_files = ["missing.toml"]\n{VALID}')
    assert errors(path)[0].startswith(f"{tmp_path / 'missing.toml'}: ")


def test_the_provincial_list_loads_as_a_websites_file(tmp_path: Path) -> None:
    from edge_agent.websites import provincial_targets
    from edge_agent.websites.config import PROVINCIAL_TARGETS_FILE

    path = write(tmp_path, f'websites_files = ["{PROVINCIAL_TARGETS_FILE}"]\n{VALID}')
    assert load_config(path).websites == provincial_targets()


def test_a_static_camera_may_name_its_device_service(tmp_path: Path) -> None:
    from edge_agent.inventory import Inventory

    config = load_config(write(tmp_path, VALID + """
[[cameras]]
id = "cam-1"
host = "10.5.0.9"
port = 8443
onvif_url = "https://10.5.0.9:8443/cgi-bin/onvif/device_service"
[[cameras]]
id = "cam-2"
host = "10.5.0.10"
"""))
    urls = [target.onvif_url for target in Inventory(config).targets()]
    assert urls == ["https://10.5.0.9:8443/cgi-bin/onvif/device_service", ""]
