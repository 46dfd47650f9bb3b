//! Native tests of the client core.
