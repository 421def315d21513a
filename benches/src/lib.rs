//! Benchmarks and the load generator (later issue).
