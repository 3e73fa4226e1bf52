from ledger import split_bill


def test_split_bill_between_two():
    assert split_bill(1001, ["ana", "bo"]) == {"ana": "5.01", "bo": "5.00"}
