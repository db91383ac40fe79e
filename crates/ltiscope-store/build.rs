//! Empty on purpose. It exists so that `memchr` can be a build-dependency of this crate (see
//! `[build-dependencies]` in Cargo.toml): that pins the host-side features of `memchr`, which
//! DuckDB's build script also depends on, to the same set in test builds and in plain builds
//! (`cargo run`, `cargo build`). Without it the two builds compiled DuckDB's C++ separately,
//! which takes from 25 minutes to two hours on two cores.

fn main() {}
