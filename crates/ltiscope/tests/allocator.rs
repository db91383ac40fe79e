//! The binary's allocator: mimalloc serves DuckDB's C++ as well as our Rust, because the
//! binary itself defines `malloc`, `free` and the rest (mimalloc's `override` feature in the
//! workspace's `Cargo.toml`), and a definition in the executable takes the place of the C
//! library's for every caller in the process. With glibc's malloc under DuckDB, an import of a
//! million launches took 0.77 million page faults against 0.36-0.51 million, and its closing
//! rollup refresh and the tools report were slower (BENCHMARKS.md, "DuckDB's memory from
//! mimalloc").

#![cfg(target_os = "linux")]

use object::{Object, ObjectSymbol};

#[test]
fn the_binary_defines_malloc_so_duckdb_allocates_through_mimalloc() {
    let path = env!("CARGO_BIN_EXE_ltiscope");
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("cannot read {path}: {e}"));
    let file = object::File::parse(&*bytes).unwrap_or_else(|e| panic!("{path}: {e}"));
    let defined = |name: &str| {
        file.symbols()
            .chain(file.dynamic_symbols())
            .any(|s| s.name() == Ok(name) && s.is_definition())
    };
    // mimalloc is linked (its free serves Rust's deallocations with or without the feature)...
    assert!(defined("mi_free"), "{path} does not link mimalloc");
    // ...and takes the C library's place.
    for name in ["malloc", "free", "calloc", "realloc", "posix_memalign"] {
        assert!(
            defined(name),
            "{path} leaves `{name}` to the C library: DuckDB would allocate through glibc \
             (mimalloc's `override` feature is off)"
        );
    }
}
