// baton-bench: system-level benchmarks of Baton. Workloads live in one file each
// (`RedisWorkload.swift`, …) and are listed in `Workload.swift`; this file only starts the command.
await BatonBench.start()
