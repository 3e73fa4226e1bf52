from textstats.tokenizer import count_syllables, sentences, words


def test_words_drop_punctuation_and_keep_contractions():
    assert words("Don't panic, it's state-of-the-art!") == ["Don't", "panic", "it's",
                                                           "state-of-the-art"]


def test_sentences_split_on_terminators():
    assert sentences("One. Two? Three!") == ["One.", "Two?", "Three!"]


def test_sentences_keep_abbreviations():
    assert sentences("Use a tool, e.g. a hammer. Done.") == ["Use a tool, e.g. a hammer.", "Done."]


def test_sentences_keep_unterminated_tail():
    assert sentences("First. and a tail") == ["First.", "and a tail"]


def test_count_syllables():
    assert count_syllables("cat") == 1
    assert count_syllables("table") == 2
    assert count_syllables("make") == 1
    assert count_syllables("readability") == 5
