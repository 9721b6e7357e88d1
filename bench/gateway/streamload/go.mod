module quarterdeck.invalid/bench/streamload

go 1.22
