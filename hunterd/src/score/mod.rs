//! Rules-driven lead scoring: points, segments, the P-model, breakdown and sales summary.
