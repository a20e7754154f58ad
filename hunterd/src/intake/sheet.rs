//! Spreadsheets, first sheet only, as rows numbered like the sheet numbers them. xlsx is streamed cell by
//! cell (calamine still loads the shared-string table, which is compact); xls, xlsb and ods go through
//! calamine's in-memory range — they are legacy or rare for lead lists.

use std::io::{Read, Seek};

use calamine::{Data, DataRef, Ods, Reader, Xls, Xlsb, Xlsx};

use super::ImportError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SheetKind {
    Xlsx,
    Xlsb,
    Xls,
    Ods,
}

/// Calls `on_row(row_number, cells)` for every row of the first sheet that has a cell; returns the
/// sheet's name.
pub fn read_first_sheet<RS: Read + Seek>(
    mut rs: RS,
    kind: SheetKind,
    on_row: &mut dyn FnMut(u64, Vec<String>) -> Result<(), ImportError>,
) -> Result<String, ImportError> {
    if kind != SheetKind::Xls {
        // Zip-based: nothing is unpacked into memory before every part passed the bomb limits.
        super::zip_guard::check(&mut rs).map_err(sheet_error)?;
        rs.seek(std::io::SeekFrom::Start(0)).map_err(sheet_error)?;
    }
    match kind {
        SheetKind::Xlsx => read_xlsx(rs, on_row),
        SheetKind::Xlsb => read_range(Xlsb::new(rs).map_err(sheet_error)?, on_row),
        SheetKind::Xls => read_range(Xls::new(rs).map_err(sheet_error)?, on_row),
        SheetKind::Ods => read_range(Ods::new(rs).map_err(sheet_error)?, on_row),
    }
}

fn sheet_error(e: impl std::fmt::Display) -> ImportError {
    ImportError::Spreadsheet(e.to_string())
}

fn read_xlsx<RS: Read + Seek>(
    rs: RS,
    on_row: &mut dyn FnMut(u64, Vec<String>) -> Result<(), ImportError>,
) -> Result<String, ImportError> {
    let mut book: Xlsx<RS> = Xlsx::new(rs).map_err(sheet_error)?;
    let Some(name) = book.sheet_names().first().cloned() else {
        return Err(ImportError::Spreadsheet("the workbook has no sheets".into()));
    };
    let mut cells = book.worksheet_cells_reader(&name).map_err(sheet_error)?;
    let mut current: Option<u32> = None;
    let mut values: Vec<String> = Vec::new();
    let mut row_len = 0usize;
    while let Some(cell) = cells.next_cell().map_err(sheet_error)? {
        let (row, col) = cell.get_position();
        if current != Some(row) {
            if let Some(done) = current {
                on_row(u64::from(done) + 1, std::mem::take(&mut values))?;
            }
            current = Some(row);
            row_len = 0;
        }
        let text = data_ref_text(cell.get_value());
        if text.is_empty() {
            continue;
        }
        row_len += text.len();
        if row_len > super::delimited::MAX_RECORD {
            let limit = super::delimited::MAX_RECORD / 1024;
            return Err(ImportError::Spreadsheet(format!(
                "row {} is longer than {limit} KiB (the limit per row)",
                row + 1
            )));
        }
        let col = col as usize;
        if values.len() <= col {
            values.resize(col + 1, String::new());
        }
        values[col] = text;
    }
    if let Some(done) = current {
        on_row(u64::from(done) + 1, values)?;
    }
    Ok(name)
}

fn read_range<RS: Read + Seek, B: Reader<RS>>(
    mut book: B,
    on_row: &mut dyn FnMut(u64, Vec<String>) -> Result<(), ImportError>,
) -> Result<String, ImportError>
where
    B::Error: std::fmt::Display,
{
    let name = book.sheet_names().first().cloned().unwrap_or_default();
    let Some(range) = book.worksheet_range_at(0) else {
        return Err(ImportError::Spreadsheet("the workbook has no sheets".into()));
    };
    let range = range.map_err(sheet_error)?;
    let (first_row, first_col) = range.start().unwrap_or((0, 0));
    for (i, row) in range.rows().enumerate() {
        let mut values = vec![String::new(); first_col as usize];
        values.extend(row.iter().map(data_text));
        on_row(u64::from(first_row) + i as u64 + 1, values)?;
    }
    Ok(name)
}

fn data_ref_text(value: &DataRef<'_>) -> String {
    match value {
        DataRef::String(s) | DataRef::DateTimeIso(s) | DataRef::DurationIso(s) => s.clone(),
        DataRef::SharedString(s) => (*s).to_string(),
        DataRef::Int(i) => i.to_string(),
        DataRef::Float(f) => float_text(*f),
        DataRef::Bool(b) => b.to_string(),
        DataRef::DateTime(d) => d.to_string(),
        DataRef::Error(_) | DataRef::Empty => String::new(),
    }
}

fn data_text(value: &Data) -> String {
    match value {
        Data::String(s) | Data::DateTimeIso(s) | Data::DurationIso(s) => s.clone(),
        Data::Int(i) => i.to_string(),
        Data::Float(f) => float_text(*f),
        Data::Bool(b) => b.to_string(),
        Data::DateTime(d) => d.to_string(),
        Data::Error(_) | Data::Empty => String::new(),
    }
}

/// Whole numbers (phone numbers, ids) as integers, not `5321234567.0`.
fn float_text(f: f64) -> String {
    if f.fract() == 0.0 && f.abs() < 1e15 { format!("{}", f as i64) } else { f.to_string() }
}
