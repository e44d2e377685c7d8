//! A site config file (resources.json or plain launcher args) of any content: parsing and
//! validation return a value or an error, never panic.
#![no_main]

use berth_core::config::{parse_config_text, SiteConfig};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(section) = parse_config_text(text, "fuzz.json") {
        if let Ok(config) = SiteConfig::from_args(&section.args, None) {
            let _ = berth_core::sdk_kwargs::translate(&config.default_job_container_kwargs, "fuzz");
        }
    }
});
