"""Writes demo/instructions/alpaca_sample.json and bad_records.jsonl (original texts, CC0 1.0).

Run: python demo/instructions/make_alpaca_sample.py  (byte-for-byte the same output every run)."""

import json
from pathlib import Path

HERE = Path(__file__).resolve().parent

RECORDS = [
    ("Give three tips for keeping houseplants healthy.", "",
     "1. Water them only when the top of the soil feels dry.\n2. Put them where they get enough light, but not harsh midday sun.\n3. Wipe the dust off the leaves now and then so they can breathe."),
    ("Explain what a rainbow is in two sentences.", "",
     "A rainbow is an arc of colours that appears when sunlight is bent and reflected inside raindrops. Each colour leaves the drop at a slightly different angle, so the light splits into red, orange, yellow, green, blue and violet."),
    ("Rewrite the sentence in the passive voice.", "The committee approved the new budget.",
     "The new budget was approved by the committee."),
    ("Classify the animal as a mammal, bird, fish or reptile.", "Penguin", "Bird"),
    ("Write a short thank-you note to a neighbour who watered your garden.", "",
     "Dear Mari,\n\nThank you so much for watering my garden while I was away. The tomatoes survived the heat because of you! Please come over for coffee this weekend.\n\nWarm regards,\nPeeter"),
    ("Write a Python function that returns the sum of the even numbers in a list.", "",
     "Here is a simple solution:\n\n```python\ndef sum_even(numbers):\n    return sum(n for n in numbers if n % 2 == 0)\n```\n\nFor example, `sum_even([1, 2, 3, 4])` returns 6."),
    ("What does this SQL query do?", "SELECT name, age FROM users WHERE age > 30 ORDER BY age DESC;",
     "The query lists the names and ages of all users older than 30, starting with the oldest."),
    ("Fix the bug in the following JavaScript code.", "function add(a, b) {\n  return a - b;\n}",
     "The function subtracts instead of adding. The corrected version is:\n\nfunction add(a, b) {\n  return a + b;\n}"),
    ("Suggest a name for a small bakery in a seaside town.", "", "The Salty Crust Bakery"),
    ("Summarise the paragraph in one sentence.",
     "The town council met on Tuesday to discuss the new cycling paths. Several residents asked for safer crossings near the school, and the council agreed to add two new pedestrian lights before the autumn term.",
     "The council agreed to add two pedestrian lights near the school after residents asked for safer crossings."),
    ("Where can I read the documentation of the requests library?", "",
     "The official documentation is at https://requests.readthedocs.io/ and the source code is on GitHub."),
    ("Fill in the template with a friendly greeting.", "Hello {name}, your order {order_id} has shipped!",
     "Hello {name}, great news: your order {order_id} has shipped and should arrive within three days!"),
    ("Explain what the format string %s does in Python.", "",
     "In old-style Python string formatting, %s is replaced by the string form of a value, so \"Hi %s\" % \"Anna\" gives \"Hi Anna\"."),
    ("List four vegetables that grow well in a cold climate.", "",
     "- Potatoes\n- Cabbage\n- Carrots\n- Beetroot"),
    ("Convert 25 degrees Celsius to Fahrenheit.", "", "25 °C is 77 °F."),
    ("Give an example of a metaphor.", "", "\"Time is a thief\" is a metaphor: it says that time takes things from us without asking."),
    ("Describe the taste of rye bread.", "",
     "Rye bread tastes slightly sour and earthy, with a dense, moist crumb and a dark, chewy crust."),
    ("Answer the question with yes or no.", "Is the Baltic Sea saltier than the Atlantic Ocean?", "No"),
    ("Write a haiku about the first snow.", "",
     "Soft flakes on the fence\nthe garden holds its breath now\nfootprints of a cat"),
    ("How do I create a new folder from the command line on Linux?", "",
     "Use the `mkdir` command, for example `mkdir projects`. To create nested folders in one go, add `-p`: `mkdir -p projects/2024/notes`."),
    ("Write an HTML link to the example website.", "", "<a href=\"https://example.com\">Visit the example site</a>"),
    ("Find the odd one out.", "apple, banana, carrot, cherry", "Carrot, because it is a vegetable and the others are fruits."),
    ("Give two reasons why people enjoy saunas.", "",
     "People enjoy saunas because the heat relaxes tired muscles, and because sitting together in the quiet warmth is a calm, social ritual."),
    ("Translate the idea into plain language.", "The meeting has been postponed sine die.",
     "The meeting has been put off, and no new date has been set."),
    ("Write a regular expression that matches a five-digit postal code.", "",
     "The pattern ^\\d{5}$ matches exactly five digits, such as 10115 or 51014."),
    ("Explain the difference between weather and climate.", "",
     "Weather is what the atmosphere does on a given day, such as rain or sunshine. Climate is the typical pattern of weather in a place over many years."),
    ("Create a shopping list for pancakes.", "",
     "- 2 eggs\n- 500 ml milk\n- 250 g flour\n- a pinch of salt\n- butter for the pan"),
    ("Estimate how long it takes to walk 5 km.", "", "At an ordinary pace of about 5 km/h, it takes roughly one hour."),
    ("Send an e-mail address in the answer.", "Who should I contact about the lost bag?",
     "Please write to lost.items@example.org and describe the bag."),
    ("Write a shell command that counts the lines in a file.", "", "wc -l notes.txt"),
    ("What is the capital of Estonia?", "", "The capital of Estonia is Tallinn."),
    ("Give one piece of advice for someone starting to learn a new language.", "",
     "Practise a little every day: fifteen minutes of reading or listening each day helps more than a long session once a week."),
    ("Rewrite the text to sound more polite.", "Give me the report now.",
     "Could you please send me the report when you have a moment?"),
    ("Explain what a for loop is.", "",
     "A for loop repeats a block of code once for each item in a sequence. For example:\n\n    for name in [\"Ann\", \"Jaan\"]:\n        print(name)\n\nprints each name on its own line."),
    ("Write a short weather report for a snowy day.", "",
     "Heavy snow is expected throughout the day with temperatures around -5 °C. Roads will be slippery, so drive carefully and allow extra time for your journey."),
    ("Name three famous Estonian composers.", "", "Arvo Pärt, Veljo Tormis and Eduard Tubin."),
    ("Sort the numbers from smallest to largest.", "42, 7, 19, 3, 88", "3, 7, 19, 42, 88"),
    ("Describe a good morning routine in three steps.", "",
     "First, drink a glass of water. Then stretch or take a short walk outside. Finally, eat a simple breakfast and plan the three most important tasks of the day."),
    ("Explain what <br> does in HTML.", "", "The <br> tag inserts a line break inside text without starting a new paragraph."),
    ("Suggest a title for a story about a lost lighthouse keeper.", "", "The Keeper Who Followed the Fog"),
]

# Chat records (multi-turn) to show the `messages` format is read too.
CHATS = [
    {"messages": [
        {"role": "user", "content": "I want to start running. How often should I run in the first month?"},
        {"role": "assistant", "content": "Start with three short runs a week, with a rest day between them. Mix running and walking at first."},
        {"role": "user", "content": "And how long should each run be?"},
        {"role": "assistant", "content": "About 20 to 30 minutes, including the walking breaks, is plenty for the first month."},
    ]},
    {"messages": [
        {"role": "system", "content": "You are a helpful cooking assistant."},
        {"role": "user", "content": "What can I cook with potatoes, eggs and dill?"},
        {"role": "assistant", "content": "A simple potato salad: boil the potatoes and eggs, chop them, and mix with sour cream and fresh dill."},
    ]},
]

BAD = [
    '{"instruction": "Name a colour.", "input": "", "output": "Blue"}',
    '{"instruction": "This line is cut off", "input": "", "outp',
    '{"instruction": "No output field here.", "input": ""}',
    '{"instruction": "Empty output.", "input": "", "output": "   "}',
    '{"instruction": ["not", "a", "string"], "input": "", "output": "x"}',
    '["a", "list", "instead", "of", "an", "object"]',
    '{"conversations": [{"from": "human", "value": "Say hello in Estonian."}, {"from": "gpt", "value": "Tere!"}]}',
    '{"messages": [{"role": "wizard", "content": "Unknown role."}, {"role": "assistant", "content": "Hm."}]}',
]


def main() -> None:
    data = [{"instruction": i, "input": x, "output": o} for i, x, o in RECORDS]
    (HERE / "alpaca_sample.json").write_text(json.dumps(data, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    (HERE / "chat_sample.jsonl").write_text("".join(json.dumps(c, ensure_ascii=False) + "\n" for c in CHATS), encoding="utf-8")
    (HERE / "bad_records.jsonl").write_text("\n".join(BAD) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
