include!("../../build-support/git_commit.rs");
