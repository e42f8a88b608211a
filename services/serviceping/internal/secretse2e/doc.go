// Package secretse2e checks, from the outside, that the services keep the
// secrets of their configuration to themselves: started with passwords in
// URLs and tokens, none appears in anything they print — logs, errors —
// nor in what the warehouse endpoint answers.
package secretse2e
