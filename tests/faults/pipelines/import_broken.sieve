# fault: an import of a file with a syntax error
import "lib/broken.sieve"
pipeline p {
  stage a = synth.arith(n = 10)
}
