# Comments run from `#` to the end of the line, anywhere whitespace may appear;
# a `#` inside a string is text. Statements may span lines.
# (a file may start with comment lines)

pipeline comments {            # after the opening brace
  # a comment line inside the block
  let tag = "#not-a-comment"   # the string keeps its `#`
  let n   =                    # between `=` and the value
    3_000

  stage data = synth.igsm(     # after `(`
    n = n,                     # after an argument
    # a whole comment line between arguments
    ops = 2..                  # inside a range
          5,
    style = compact            # before `)`
  )
  stage init = model.init(arch = "nano", alphabet = "#0123456789")
  stage tuned = sft(init,
                    data)      ## double hash
  #stage disabled = sft(init, data)
  sweep k in [1,   # inside a list
              2] { # after the sweep header
    stage acc = evaluate(tuned, data, stop = [tag], samples = k, temperature = 0.5)
  } # after the sweep
}   # after the pipeline
# trailing comment, no newline at the end