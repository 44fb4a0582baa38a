//! Sets `cfg(browser_tests)` when Chromium and ChromeDriver are installed
//! (`JCSELECT_CHROMIUM`, `JCSELECT_CHROMEDRIVER`, else Debian's
//! `/usr/bin/chromium` and `/usr/bin/chromedriver`), so that the control
//! room's browser test is reported as ignored, not passed, where they are
//! absent (the variables and paths are watched: installing them rebuilds).

use std::path::PathBuf;

fn main() {
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
