//! Job process args of any content, through every consumer of them.
#![no_main]

use berth_core::args::{JobProcessArgs, Role};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(args) = JobProcessArgs::from_json(text, "fuzz.json") else {
        return;
    };
    let _ = args.module_argv(Role::Client);
    let _ = args.module_argv(Role::Server);
    let _ = args.credential_env();
    let _ = berth_core::parent_url::rewrite_parent_url(&args, "site-1");
});
