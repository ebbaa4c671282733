"""The scale bench's sections (bench/scale_bench.py runs them), one module each."""
