import importlib.util
import json
from pathlib import Path

BENCH = Path(__file__).parents[2] / "benchmarks" / "identification_bench.py"


def test_bench_quick_writes_json(tmp_path) -> None:
    spec = importlib.util.spec_from_file_location("identification_bench", BENCH)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    out = tmp_path / "b.json"
    assert bench.main(["--quick", "--sizes", "500", "12000", "--out", str(out), "--seconds", "0.1"]) == 0
    report = json.loads(out.read_text())
    assert report["machine_info"]["cores"] >= 1
    assert report["embedding"][0]["images_per_s"] > 0
    big = report["gallery_search"][1]
    assert big["products"] == 12000 and big["flat_one_query"]["median_ms"] > 0
    assert 0.0 <= big["ivf_top1_agreement"] <= 1.0
