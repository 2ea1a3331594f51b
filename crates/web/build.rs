//! Brings the web sites' third-party assets (htmx) from the npm registry at build time, pinned and
//! checked by `assets/package-lock.json`, and hands them to the crate to embed: the binary needs
//! nothing from the internet at run time, and nothing third-party is copied into the repository.
//!
//! `npm ci` runs once, into `assets/node_modules`; `SKYCAMP_WEB_NODE_MODULES` names another
//! `node_modules` (an image build that installed them in an earlier stage).

use std::path::{Path, PathBuf};
use std::process::Command;

const ASSETS: &[(&str, &str)] = &[("htmx.org/dist/htmx.min.js", "htmx.min.js")];

fn main() {
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let assets = manifest.join("assets");
    println!("cargo::rerun-if-changed=assets/package-lock.json");
    println!("cargo::rerun-if-env-changed=SKYCAMP_WEB_NODE_MODULES");
    let modules = match std::env::var_os("SKYCAMP_WEB_NODE_MODULES") {
        Some(dir) => PathBuf::from(dir),
        None => {
            let modules = assets.join("node_modules");
            if !ASSETS.iter().all(|(from, _)| modules.join(from).is_file()) {
                npm_ci(&assets);
            }
            modules
        }
    };
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    for (from, to) in ASSETS {
        let source = modules.join(from);
        println!("cargo::rerun-if-changed={}", source.display());
        if let Err(e) = std::fs::copy(&source, out.join(to)) {
            panic!("{} is missing ({e}): run `npm ci --prefix crates/web/assets`", source.display());
        }
    }
}

fn npm_ci(assets: &Path) {
    let status =
        Command::new("npm").args(["ci", "--no-audit", "--no-fund", "--silent", "--prefix"]).arg(assets).status();
    match status {
        Ok(s) if s.success() => {}
        Ok(s) => {
            panic!("`npm ci --prefix {}` failed ({s}): the web assets come from the npm registry", assets.display())
        }
        Err(e) => panic!("npm is needed to fetch the web assets from the npm registry ({e}); install Node.js and npm"),
    }
}
