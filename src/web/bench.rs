//! The benchmark suite for `www/bench.html`: the native suite's cases (`crate::bench`) through
//! WebGPU.

use std::collections::HashMap;

use wasm_bindgen::prelude::*;

use super::{js_error, Lab};
use crate::bench::{self, Files, Options};
use crate::Error;

/// The files the suite reads, as paths from the repository root.
#[wasm_bindgen(js_name = benchmarkFiles)]
pub fn benchmark_files() -> Vec<String> {
    bench::FILES.iter().map(|f| f.to_string()).collect()
}

#[wasm_bindgen]
impl Lab {
    /// How the benchmarks time: GPU timestamps where the browser gives them, else the clock.
    #[wasm_bindgen(getter, js_name = benchmarkTiming)]
    pub fn benchmark_timing(&self) -> String {
        bench::timing(&self.device.current(), &Options::new(false)).into()
    }

    /// Runs the cases whose names start with one of `only` (comma-separated; all when empty)
    /// over `files` (a Map from each of `benchmarkFiles()` to its bytes), calls `on_record`
    /// with each record's JSON as it is measured, and resolves to the whole run's JSON.
    #[wasm_bindgen(js_name = runBenchmarks)]
    pub async fn run_benchmarks(
        &self,
        files: js_sys::Map,
        quick: bool,
        only: String,
        on_record: js_sys::Function,
    ) -> Result<String, JsValue> {
        let mut bytes = HashMap::new();
        for &path in bench::FILES {
            let value = files.get(&JsValue::from_str(path));
            if value.is_undefined() {
                return Err(js_error(Error::Invalid(format!("{path} was not given"))));
            }
            bytes.insert(path.to_string(), js_sys::Uint8Array::new(&value).to_vec());
        }
        let mut options = Options::new(quick);
        options.only = only.split(',').filter(|s| !s.is_empty()).map(String::from).collect();
        let mut report = |r: &bench::Record| {
            // A failing callback is the page's problem; the run goes on.
            let _ = on_record.call1(&JsValue::NULL, &JsValue::from_str(&bench::record_json(r)));
        };
        let gpu = self.device.current();
        let records = bench::run(&gpu, &options, &Files(bytes), &mut report).await;
        Ok(bench::to_json(&gpu, &options, &records.map_err(js_error)?))
    }
}
