//! Provider detection: who runs a domain's mail, which gateway sits in front, and the evidence.
