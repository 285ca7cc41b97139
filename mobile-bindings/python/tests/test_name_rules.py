"""The generated Python bindings load the release library and apply the core's name rules.

Run by scripts/binding-tests after scripts/bindings, with the generated module's directory
(target/bindings/python) on PYTHONPATH: `python3 -m unittest discover -s mobile-bindings/python/tests`.
"""

import unittest

import livingwell_mobile


class NameRulesTest(unittest.TestCase):
    def test_max_length_is_the_core_limit(self):
        self.assertEqual(livingwell_mobile.name_max_length(), 120)

    def test_ordinary_names_are_accepted(self):
        self.assertTrue(livingwell_mobile.is_acceptable_name("Alex"))
        self.assertTrue(livingwell_mobile.is_acceptable_name("Siân Ó Briain-Zoë"))

    def test_invisible_and_control_characters_are_refused(self):
        self.assertFalse(livingwell_mobile.is_acceptable_name("Al\u202eex"))
        self.assertFalse(livingwell_mobile.is_acceptable_name("Al\u200bex"))
        self.assertFalse(livingwell_mobile.is_acceptable_name("Al\x00ex"))
        self.assertFalse(livingwell_mobile.is_acceptable_name("   "))

    def test_length_is_counted_in_scalar_values(self):
        face = "\U0001f600"
        self.assertTrue(livingwell_mobile.is_acceptable_name(face * 120))
        self.assertFalse(livingwell_mobile.is_acceptable_name(face * 121))


if __name__ == "__main__":
    unittest.main()
