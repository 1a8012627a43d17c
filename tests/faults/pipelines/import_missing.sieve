# fault: an import of a file that does not exist
import "lib/no_such_file.sieve"
pipeline p {
  stage a = synth.arith(n = 10)
}
