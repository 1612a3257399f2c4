//! Fuzz target: a `seen.toml` through `Config::from_toml` (TOML → typed config → validated `Engine`,
//! action book, directory, surveys). Never panics; a configuration that loads prints (as
//! `seen config` does) to TOML that loads again into an engine with the same fingerprint.
#![no_main]

use libfuzzer_sys::fuzz_target;
use seen::config::Config;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(config) = Config::from_toml(text, "fuzz.toml") else {
        return;
    };
    let _ = config.file.storage.options();
    let _ = format!("{:?}", config.file.actions);
    let Ok(printed) = toml::to_string_pretty(&config.file) else {
        return;
    };
    let again = match Config::from_toml(&printed, "printed.toml") {
        Ok(again) => again,
        Err(e) => panic!(
            "`seen config` output does not load: {e}\n--- input\n{text}\n--- printed\n{printed}"
        ),
    };
    assert_eq!(
        config.engine.fingerprint(),
        again.engine.fingerprint(),
        "printed configuration changes the policies\n--- printed\n{printed}"
    );
});
