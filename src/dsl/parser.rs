//! pest front end (under construction).
