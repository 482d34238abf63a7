//! The Worker's log: the runtime's `console`, bound directly (the shell's
//! `worker::console_*` macros come with the `worker` crate).

use wasm_bindgen::prelude::wasm_bindgen;

#[wasm_bindgen]
extern "C" {
    /// `console.log`.
    #[wasm_bindgen(js_namespace = console)]
    pub fn log(line: &str);
    /// `console.warn`.
    #[wasm_bindgen(js_namespace = console)]
    pub fn warn(line: &str);
    /// `console.error`.
    #[wasm_bindgen(js_namespace = console)]
    pub fn error(line: &str);
}
