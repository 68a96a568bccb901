//! The Bold bulk import (`PUT /v2/users`, a CSV upload): line endings across chunk boundaries,
//! the header, each row's cells (names, email, phone, booleans, password hashes) and the row
//! numbers reported. The first input byte picks the chunk size; the rest is the file.
//! Invariants: how the upload is cut into chunks never changes what is read; row numbers never go
//! backwards and never pass the file's last line.
#![no_main]

use libfuzzer_sys::fuzz_target;
use usher_api::bold::fuzzing::csv_import;

fn read(file: &[u8], chunk: usize) -> Result<String, String> {
    let chunks = file.chunks(chunk).map(<[u8]>::to_vec).collect();
    csv_import(chunks)
        .map(|rows| format!("{rows:?}"))
        .map_err(|e| e.message)
}

fuzz_target!(|data: &[u8]| {
    let Some((&first, file)) = data.split_first() else {
        return;
    };
    let chunk = usize::from(first % 16) + 1;
    let whole = csv_import(vec![file.to_vec()]);
    if let Ok(rows) = &whole {
        // Lines as the user counts them: CRLF, CR and LF each end one.
        let mut breaks = 0u64;
        let mut prev_cr = false;
        for &b in file {
            match b {
                b'\r' => breaks += 1,
                b'\n' if !prev_cr => breaks += 1,
                _ => {}
            }
            prev_cr = b == b'\r';
        }
        let mut last = 0;
        for (line, row) in rows {
            if *line == 0 && matches!(row, Ok(None)) {
                continue; // a blank row carries no line
            }
            assert!(*line >= last, "row numbers go backwards: {rows:?}");
            assert!(
                *line <= breaks + 1,
                "row {line} of a file of {breaks} line breaks"
            );
            last = *line;
        }
    }
    let whole = whole.map(|rows| format!("{rows:?}")).map_err(|e| e.message);
    assert_eq!(read(file, chunk), whole, "chunks of {chunk} bytes");
});
