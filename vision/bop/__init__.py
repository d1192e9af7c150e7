"""BOP benchmark I/O and evaluation: dataset reader, results writer, COCO-style evaluator, fixture."""
