"""The benchmarks, one module each; every module registers its class with bench.harness.register."""
