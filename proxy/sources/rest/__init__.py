"""Declared REST sources: any JSON API that can list its records (issue 17).

``declaration`` parses and checks the ``[sources.NAME]`` tables, ``paths`` reads values out
of pages, ``paging`` decides each style's next request, ``client`` lists and checks items
over HTTP.
"""
