from __future__ import annotations

import errno
import functools
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

import stewrd_lab
from stewrd_lab import Emulator, Rules
from stewrd_lab._cli import _listen_advice, main

GOLDEN = Path(__file__).parent / "data" / "tour-seed-0.txt"


def test_tour__prints_the_three_tables_and_exits_0(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["tour"]) == 0

    out, err = capsys.readouterr()
    assert out == GOLDEN.read_text(encoding="utf-8")
    assert err == ""


def test_tour__console_script_prints_byte_identical_output_twice() -> None:
    # The script pip installed beside this interpreter, as a user would run it.
    command = [str(Path(sys.executable).with_name("stewrd-lab")), "tour"]
    runs = [subprocess.run(command, capture_output=True, check=True) for _ in range(2)]

    assert runs[0].stdout == runs[1].stdout == GOLDEN.read_bytes()


def test_tour__another_seed_gives_other_ids(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["tour", "--seed", "5"]) == 0

    assert capsys.readouterr().out != GOLDEN.read_text(encoding="utf-8")


def test_tour__csv_writes_one_file_per_walkthrough(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["tour", "--csv", str(tmp_path / "out")]) == 0

    files = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert files == ["authentication.csv", "plans.csv", "session_limit.csv"]
    auth = pd.read_csv(tmp_path / "out" / "authentication.csv")
    assert auth.columns.tolist() == ["case", "sent", "status", "code", "message"]
    assert auth["status"].tolist() == [401] * 5 + [201]
    limit = pd.read_csv(tmp_path / "out" / "session_limit.csv")
    assert limit.columns.tolist() == [
        "attempt",
        "clock",
        "status",
        "code",
        "message",
        "session_id",
        "active",
    ]
    assert limit["status"].tolist() == [201] * 10 + [429, 429, 201]
    assert limit["active"].tolist() == [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 10, 10, 1]


def test_tour__csv_into_an_unwritable_place_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")

    assert main(["tour", "--csv", str(blocker / "out")]) == 2

    assert capsys.readouterr().err == (
        f"stewrd-lab: Not a directory ({blocker / 'out'}).\n"
    )


def test_tour__exits_1_naming_what_differed(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # An emulator whose cap is nine must make the session-limit walkthrough fail.
    nine = functools.partial(Emulator, rules=Rules(session_cap=9))
    monkeypatch.setattr("stewrd_lab._tour.Emulator", nine)

    assert main(["tour"]) == 1

    assert capsys.readouterr().err == (
        "The emulator differed from the documentation: session limit: "
        "'attempt 10' expected 201, got 429 session_limit_reached.\n"
    )


def test_help__explains_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["--help"])

    assert caught.value.code == 0
    out = capsys.readouterr().out
    assert "tour" in out
    assert "run the three walkthroughs on the embedded emulator" in out


def test_python_dash_m__runs_the_cli() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "stewrd_lab", "tour"], capture_output=True, check=True
    )

    assert done.stdout == GOLDEN.read_bytes()


def test_tour__ignores_a_target_in_the_environment(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # The notebooks' instructions export these; the tour stays embedded.
    monkeypatch.setenv("STEWRD_BASE_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("STEWRD_API_KEY", "sk-stw_emu_" + "0" * 32)

    assert main(["tour"]) == 0

    assert capsys.readouterr().out == GOLDEN.read_text(encoding="utf-8")


@pytest.mark.parametrize("port", ["99999", "65536", "-1", "eighty"])
def test_serve__a_port_out_of_range_is_refused_before_serving(
    port: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["serve", "--port", port])

    assert caught.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1] == (
        f"stewrd-lab serve: error: argument --port: {port!r} is not a port; use "
        "a whole number from 0 to 65535 (0 picks a free one)"
    )


@pytest.mark.parametrize(
    ("host", "advice"),
    [
        (
            "nonexistent.invalid",
            "the host nonexistent.invalid does not resolve to an address; pick "
            "another --host, such as 127.0.0.1.",
        ),
        (
            # TEST-NET-1: reserved for documentation, never this machine's.
            "192.0.2.1",
            "192.0.2.1 is not an address of this machine; pick another --host, "
            "such as 127.0.0.1.",
        ),
    ],
)
def test_serve__a_host_it_cannot_listen_on_gets_advice_about_the_host(
    host: str, advice: str
) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "stewrd_lab", "serve", "--host", host, "--port", "0"],
        capture_output=True,
        text=True,
        timeout=30,
    )

    assert (result.returncode, result.stdout) == (2, "")
    # The line before is uvicorn's log of the OS's error, worded by the OS.
    assert result.stderr.splitlines()[-1] == (
        f"stewrd-lab: could not serve on {host}:0: {advice}"
    )


@pytest.mark.parametrize(
    ("cause", "advice"),
    [
        (
            PermissionError(errno.EACCES, "Permission denied"),
            "stewrd-lab: could not serve on 127.0.0.1:80: port 80 needs "
            "privileges this user lacks; pick a port above 1023, or --port 0 for "
            "a free one.",
        ),
        (
            OSError(errno.EMFILE, "Too many open files"),
            "stewrd-lab: could not serve on 127.0.0.1:80; check --host and --port, "
            "or use --port 0 for a free one.",
        ),
        (
            None,
            "stewrd-lab: could not serve on 127.0.0.1:80; check --host and --port, "
            "or use --port 0 for a free one.",
        ),
    ],
)
def test_serve__other_listen_failures_get_fitting_advice(
    cause: BaseException | None, advice: str
) -> None:
    # As root, a low port binds, so this cause is built rather than met.
    assert _listen_advice("127.0.0.1", 80, cause) == advice


def test_unknown_arguments__never_echo_a_key_whole(
    capsys: pytest.CaptureFixture[str],
) -> None:
    key = "sk-stw_" + "Q" * 32

    with pytest.raises(SystemExit) as caught:
        main(["probe", "--api-key", key])

    assert caught.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1] == (
        "stewrd-lab: error: unrecognized arguments: --api-key sk-stw_…QQQQ"
    )


def test_version__names_the_package(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["--version"])

    assert caught.value.code == 0
    assert capsys.readouterr().out == f"stewrd-lab {stewrd_lab.__version__}\n"
