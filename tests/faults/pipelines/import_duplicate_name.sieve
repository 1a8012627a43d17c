# fault: a stage that an import also defines
import "lib/data.sieve"
pipeline p {
  stage train = synth.arith(n = 10)
}
