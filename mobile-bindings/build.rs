//! Link options for the phone library (the cdylib) only.
//!
//! Packed relative relocations (`-z pack-relative-relocs`, ELF `DT_RELR`): most of a Rust shared
//! library's dynamic relocations are `R_*_RELATIVE` (a pointer in a vtable or a `&'static str`
//! that only needs the load address added), 24 bytes each as RELA and a few bits each as RELR.
//! Here that is ~47,000 relocations: 1.1 MB of `.rela.dyn` become ~18 KB of `.relr.dyn` (what is
//! left in `.rela.dyn` is ~3 KB), and the loader has less to read at start-up. The code and data
//! are the same.
//!
//! Why here and not in `.cargo/config.toml` or `RUSTFLAGS`: `cargo:rustc-cdylib-link-arg` applies
//! only to this package's cdylib, so the server, the tests and the staticlib (linked by Xcode)
//! are linked as before, and a change of `RUSTFLAGS` would rebuild every crate besides.
//!
//! Only on Linux with glibc (the library the binding tests load, and `scripts/mobile-size`): the
//! linker there is rust-lld (rustc's default on x86_64 Linux) or GNU ld ≥ 2.38; both know the
//! flag and mark the library as needing `GLIBC_ABI_DT_RELR`, so a glibc older than 2.36 refuses
//! to load it with a clear error instead of misapplying relocations. Not on Android: bionic reads
//! the standard `DT_RELR` tags from API level 30 (28 and 29 need lld's
//! `--pack-dyn-relocs=android+relr --use-android-relr-tags`; below 28, none), so which flags are
//! safe depends on the app's `minSdk`, which only the Android build knows; it passes them itself
//! (see the README's "Size" note). Apple's linker has its own compact fixups.

use std::env;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let os = env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let libc = env::var("CARGO_CFG_TARGET_ENV").unwrap_or_default();
    if os == "linux" && libc == "gnu" {
        println!("cargo:rustc-cdylib-link-arg=-Wl,-z,pack-relative-relocs");
    }
}
