# helper: half of an import cycle
import "cycle_b.yaml"
stage ca = synth.arith(n = 10)
