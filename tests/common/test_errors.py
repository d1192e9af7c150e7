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
