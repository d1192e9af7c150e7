from pathlib import Path

import pytest

from vision.common.errors import UserError, require_dir, require_file, run_with_error_convention


def test_user_error_is_one_line_with_path(tmp_path: Path) -> None:
    err = UserError("bad\nvalue   here", tmp_path / "x.json")
    assert err.one_line() == f"{tmp_path / 'x.json'}: bad value here"
    assert "\n" not in str(err)


def test_run_with_error_convention_maps_user_error_to_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    def boom() -> int:
        raise UserError("missing thing", "data/root")

    assert run_with_error_convention(boom, debug=False) == 2
    err = capsys.readouterr().err
    assert err.strip() == "error: data/root: missing thing"
    assert "Traceback" not in err


def test_run_with_error_convention_debug_prints_traceback(capsys: pytest.CaptureFixture[str]) -> None:
    def boom() -> int:
        raise UserError("missing thing")

    assert run_with_error_convention(boom, debug=True) == 2
    assert "Traceback" in capsys.readouterr().err


def test_run_with_error_convention_passes_exit_codes_and_bugs() -> None:
    assert run_with_error_convention(lambda: None, debug=False) == 0
    assert run_with_error_convention(lambda: 3, debug=False) == 3
    with pytest.raises(ZeroDivisionError):
        run_with_error_convention(lambda: 1 // 0, debug=False)


def test_require_file_and_dir(tmp_path: Path) -> None:
    f = tmp_path / "a.txt"
    f.write_text("x")
    assert require_file(f) == f
    assert require_dir(tmp_path) == tmp_path
    with pytest.raises(UserError, match="does not exist"):
        require_file(tmp_path / "nope")
    with pytest.raises(UserError, match="is not a file"):
        require_file(tmp_path)
    with pytest.raises(UserError, match="is not a folder"):
        require_dir(f)


def test_read_json_parses_or_raises_one_line_errors(tmp_path: Path) -> None:
    from vision.common.errors import read_json

    good = tmp_path / "good.json"
    good.write_text('{"a": [1, 2]}')
    assert read_json(good, "manifest") == {"a": [1, 2]}
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(UserError, match="manifest is not valid JSON") as info:
        read_json(bad, "manifest")
    assert "\n" not in str(info.value) and str(bad) in str(info.value)
    binary = tmp_path / "binary.json"
    binary.write_bytes(b"\xff\xfe\x00\x81")  # not UTF-8: was a UnicodeDecodeError traceback in some readers
    with pytest.raises(UserError, match="is not valid JSON"):
        read_json(binary, "manifest")
    with pytest.raises(UserError, match="manifest does not exist"):
        read_json(tmp_path / "none.json", "manifest")
