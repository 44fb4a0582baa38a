//! Sets `cfg(postgres_tests)` when `JCSELECT_TEST_POSTGRES_URL` is set at build time, so
//! that tests needing that database are reported as ignored, not passed,
//! when it is absent (the variable is watched: setting it rebuilds).

fn main() {
    println!("cargo::rerun-if-env-changed=JCSELECT_TEST_POSTGRES_URL");
    println!("cargo::rustc-check-cfg=cfg(postgres_tests)");
    if std::env::var_os("JCSELECT_TEST_POSTGRES_URL").is_some_and(|url| !url.is_empty()) {
        println!("cargo::rustc-cfg=postgres_tests");
    }
}
