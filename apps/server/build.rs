//! Sets `cfg(postgres_tests)` when `JCSELECT_TEST_POSTGRES_URL` is set at
//! build time, and `cfg(browser_tests)` when Chromium and ChromeDriver are
//! installed (`JCSELECT_CHROMIUM`, `JCSELECT_CHROMEDRIVER`, else Debian's
//! `/usr/bin/chromium` and `/usr/bin/chromedriver`), so that tests needing
//! them are reported as ignored, not passed, when they are absent (the
//! variables and paths are watched: setting or installing them rebuilds).

use std::path::PathBuf;

fn main() {
    println!("cargo::rerun-if-env-changed=JCSELECT_TEST_POSTGRES_URL");
    println!("cargo::rustc-check-cfg=cfg(postgres_tests)");
    if std::env::var_os("JCSELECT_TEST_POSTGRES_URL").is_some_and(|url| !url.is_empty()) {
        println!("cargo::rustc-cfg=postgres_tests");
    }
    println!("cargo::rustc-check-cfg=cfg(browser_tests)");
    let mut found = true;
    for (variable, default) in [
        ("JCSELECT_CHROMIUM", "/usr/bin/chromium"),
        ("JCSELECT_CHROMEDRIVER", "/usr/bin/chromedriver"),
    ] {
        println!("cargo::rerun-if-env-changed={variable}");
        let path = std::env::var_os(variable).map_or_else(|| PathBuf::from(default), PathBuf::from);
        // watching a missing file re-runs this script at every build, so
        // that installing the browser is noticed
        println!("cargo::rerun-if-changed={}", path.display());
        found &= path.exists();
    }
    if found {
        println!("cargo::rustc-cfg=browser_tests");
    }
}
