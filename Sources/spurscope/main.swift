print("spurscope")
