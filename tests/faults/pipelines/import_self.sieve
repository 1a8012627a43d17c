# fault: a file importing itself
import "import_self.sieve"
pipeline p {
  stage a = synth.arith(n = 10)
}
