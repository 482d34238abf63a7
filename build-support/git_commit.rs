// Shared by the build scripts of qase-edge and qase-hook (`include!`d), so
// `GET /health` and `qase-hook --version` name the same commit.
//
// Sets `QASE_EDGE_GIT_COMMIT` to the commit the crate is built from (with
// `-dirty` when the work tree has changes), or `unknown` outside a git
// checkout (a crate built from its package).

use std::path::Path;
use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let output = Command::new("git").args(args).output().ok()?;
    output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

fn main() {
    let commit = git(&["rev-parse", "--short=12", "HEAD"]).map(|commit| {
        let dirty = git(&["status", "--porcelain", "--untracked-files=no"])
            .is_some_and(|status| !status.is_empty());
        if dirty {
            format!("{commit}-dirty")
        } else {
            commit
        }
    });
    println!(
        "cargo:rustc-env=QASE_EDGE_GIT_COMMIT={}",
        commit.as_deref().unwrap_or("unknown")
    );
    // Rebuild when HEAD moves or the index changes (a commit, a checkout).
    if let Some(git_dir) = git(&["rev-parse", "--git-dir"]) {
        for file in ["HEAD", "index"] {
            let path = Path::new(&git_dir).join(file);
            println!("cargo:rerun-if-changed={}", path.display());
        }
        if let Some(reference) = git(&["symbolic-ref", "-q", "HEAD"]) {
            println!("cargo:rerun-if-changed={}", Path::new(&git_dir).join(reference).display());
        }
    }
}
