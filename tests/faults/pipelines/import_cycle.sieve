# fault: an import cycle through two helper files
import "lib/cycle_a.sieve"
pipeline p {
  stage a = synth.arith(n = 10)
}
