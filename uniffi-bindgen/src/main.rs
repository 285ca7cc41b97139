//! uniffi's bindings generator, built from the same uniffi version as `livingwell-mobile`
//! (a generator of another version would read the library's metadata wrongly).
//!
//! `scripts/bindings` runs it in library mode:
//! `uniffi-bindgen generate target/release/liblivingwell_mobile.so --language kotlin --out-dir DIR`.

fn main() {
    uniffi::uniffi_bindgen_main()
}
