//! Domain intake: normalising what people type or import into registrable company domains.
