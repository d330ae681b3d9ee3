// \(t) — work in progress.
