# fault: an import of a file that is neither DSL nor YAML
import "lib/notes.txt"
pipeline p {
  stage a = synth.arith(n = 10)
}
