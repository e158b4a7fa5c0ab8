"""Labelled snippets (5+ lines each) of the languages API.md names: the language detector's test set."""

from __future__ import annotations

SAMPLES: list[tuple[str, str]] = [
    # -- python
    (
        "python",
        """import os
import sys


def main(argv):
    for name in argv[1:]:
        print(os.path.basename(name))
    return 0
""",
    ),
    (
        "python",
        """class Stack:
    def __init__(self):
        self.items = []

    def push(self, item):
        self.items.append(item)

    def pop(self):
        return self.items.pop()
""",
    ),
    (
        "python",
        """from dataclasses import dataclass

@dataclass
class Point:
    x: float
    y: float

    def norm(self) -> float:
        return (self.x ** 2 + self.y ** 2) ** 0.5
""",
    ),
    (
        "python",
        """with open("data.csv") as f:
    rows = [line.strip().split(",") for line in f]
totals = {}
for name, value in rows:
    totals[name] = totals.get(name, 0) + int(value)
if __name__ == "__main__":
    print(totals)
""",
    ),
    (
        "python",
        """async def fetch_all(client, urls):
    results = []
    for url in urls:
        try:
            results.append(await client.get(url))
        except TimeoutError:
            results.append(None)
    return results
""",
    ),
    # -- javascript
    (
        "javascript",
        """const express = require('express');
const app = express();

app.get('/', (req, res) => {
  res.send('Hello World!');
});

app.listen(3000, () => console.log('listening'));
""",
    ),
    (
        "javascript",
        """function debounce(fn, wait) {
  let timer = null;
  return function (...args) {
    clearTimeout(timer);
    timer = setTimeout(() => fn.apply(this, args), wait);
  };
}
module.exports = debounce;
""",
    ),
    (
        "javascript",
        """document.querySelectorAll('.toggle').forEach((button) => {
  button.addEventListener('click', () => {
    const panel = document.getElementById(button.dataset.target);
    panel.hidden = !panel.hidden;
  });
});
""",
    ),
    (
        "javascript",
        """async function loadUsers() {
  const response = await fetch('/api/users');
  if (response.status !== 200) {
    throw new Error('failed');
  }
  const users = await response.json();
  return users.map(u => u.name);
}
""",
    ),
    # -- typescript
    (
        "typescript",
        """interface User {
  id: number;
  name: string;
  email?: string;
}

function greet(user: User): string {
  return `Hello, ${user.name}`;
}
""",
    ),
    (
        "typescript",
        """type Result<T> = { ok: true; value: T } | { ok: false; error: string };

export function parse(input: string): Result<number> {
  const n = Number(input);
  if (Number.isNaN(n)) {
    return { ok: false, error: 'not a number' };
  }
  return { ok: true, value: n };
}
""",
    ),
    (
        "typescript",
        """export class Counter {
  private count: number = 0;
  constructor(private readonly step: number) {}

  increment(): number {
    this.count += this.step;
    return this.count;
  }
}
""",
    ),
    (
        "typescript",
        """import { Injectable } from '@angular/core';

@Injectable({ providedIn: 'root' })
export class CacheService {
  private store = new Map<string, unknown>();
  get<T>(key: string): T | undefined {
    return this.store.get(key) as T | undefined;
  }
}
""",
    ),
    # -- go
    (
        "go",
        """package main

import "fmt"

func main() {
	for i := 0; i < 3; i++ {
		fmt.Println("hello", i)
	}
}
""",
    ),
    (
        "go",
        """func readConfig(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var cfg Config
	return &cfg, json.Unmarshal(data, &cfg)
}
""",
    ),
    (
        "go",
        """type Server struct {
	mu    sync.Mutex
	conns map[string]net.Conn
}

func (s *Server) Add(id string, c net.Conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.conns[id] = c
}
""",
    ),
    (
        "go",
        """results := make(chan int)
for _, n := range numbers {
	go func(n int) {
		results <- n * n
	}(n)
}
sum := 0
""",
    ),
    # -- rust
    (
        "rust",
        """fn main() {
    let mut total = 0;
    for i in 1..=10 {
        total += i;
    }
    println!("total = {}", total);
}
""",
    ),
    (
        "rust",
        """use std::collections::HashMap;

pub fn word_count(text: &str) -> HashMap<&str, usize> {
    let mut counts = HashMap::new();
    for word in text.split_whitespace() {
        *counts.entry(word).or_insert(0) += 1;
    }
    counts
}
""",
    ),
    (
        "rust",
        """#[derive(Debug)]
pub struct Stack<T> {
    items: Vec<T>,
}

impl<T> Stack<T> {
    pub fn pop(&mut self) -> Option<T> {
        self.items.pop()
    }
}
""",
    ),
    (
        "rust",
        """fn parse_port(s: &str) -> Result<u16, String> {
    match s.parse::<u16>() {
        Ok(p) if p > 0 => Ok(p),
        Ok(_) => Err("zero".to_string()),
        Err(e) => Err(format!("bad port: {}", e)),
    }
}
""",
    ),
    # -- java
    (
        "java",
        """public class Hello {
    public static void main(String[] args) {
        for (int i = 0; i < 3; i++) {
            System.out.println("Hello " + i);
        }
    }
}
""",
    ),
    (
        "java",
        """import java.util.ArrayList;
import java.util.List;

public class Inventory {
    private final List<String> items = new ArrayList<>();

    public void add(String item) {
        items.add(item);
    }
}
""",
    ),
    (
        "java",
        """@Override
public boolean equals(Object other) {
    if (this == other) return true;
    if (!(other instanceof Point)) return false;
    Point p = (Point) other;
    return x == p.x && y == p.y;
}
""",
    ),
    (
        "java",
        """package com.example.service;

public interface UserRepository {
    User findById(long id) throws NotFoundException;
    List<User> findAll();
    void save(User user);
}
""",
    ),
    # -- c
    (
        "c",
        """#include <stdio.h>

int main(void) {
    int i;
    for (i = 0; i < 10; i++) {
        printf("%d\\n", i);
    }
    return 0;
}
""",
    ),
    (
        "c",
        """#include <stdlib.h>
#include <string.h>

char *duplicate(const char *s) {
    size_t n = strlen(s) + 1;
    char *copy = malloc(n);
    if (copy != NULL) memcpy(copy, s, n);
    return copy;
}
""",
    ),
    (
        "c",
        """typedef struct node {
    int value;
    struct node *next;
} node_t;

void push(node_t **head, int value) {
    node_t *n = malloc(sizeof(node_t));
    n->value = value;
    n->next = *head;
    *head = n;
}
""",
    ),
    (
        "c",
        """static int compare(const void *a, const void *b) {
    return *(const int *)a - *(const int *)b;
}

void sort_numbers(int *numbers, size_t count) {
    qsort(numbers, count, sizeof(int), compare);
    printf("sorted %zu numbers\\n", count);
}
""",
    ),
    # -- cpp
    (
        "cpp",
        """#include <iostream>
#include <vector>

int main() {
    std::vector<int> v = {1, 2, 3};
    for (int x : v) {
        std::cout << x << std::endl;
    }
}
""",
    ),
    (
        "cpp",
        """template <typename T>
class Stack {
public:
    void push(const T& value) { items_.push_back(value); }
    T pop();
private:
    std::vector<T> items_;
};
""",
    ),
    (
        "cpp",
        """#include <memory>
#include <string>

class Widget {
public:
    explicit Widget(std::string name) : name_(std::move(name)) {}
    const std::string& name() const { return name_; }
private:
    std::string name_;
};
""",
    ),
    (
        "cpp",
        """using namespace std;

int main() {
    map<string, int> counts;
    string word;
    while (cin >> word) counts[word]++;
    for (auto& kv : counts) cout << kv.first << " " << kv.second << endl;
    return 0;
}
""",
    ),
    # -- ruby
    (
        "ruby",
        """class Greeter
  attr_reader :name

  def initialize(name)
    @name = name
  end

  def greet
    puts "Hello, #{name}!"
  end
end
""",
    ),
    (
        "ruby",
        """require 'json'

users = JSON.parse(File.read('users.json'))
users.each do |user|
  next if user['admin']
  puts user['name']
end
""",
    ),
    (
        "ruby",
        """def fizzbuzz(n)
  (1..n).map do |i|
    if i % 15 == 0 then 'FizzBuzz'
    elsif i % 3 == 0 then 'Fizz'
    elsif i % 5 == 0 then 'Buzz'
    else i.to_s
    end
  end
end
""",
    ),
    (
        "ruby",
        """module Admin
  class UsersController < ApplicationController
    before_action :authenticate!

    def index
      @users = User.where(active: true).order(:name)
    end
  end
end
""",
    ),
    # -- php
    (
        "php",
        """<?php

function greet($name) {
    return "Hello, " . $name;
}

echo greet("World");
""",
    ),
    (
        "php",
        """<?php
namespace App\\Http\\Controllers;

use Illuminate\\Http\\Request;

class UserController extends Controller
{
    public function show($id)
    {
        return view('user', ['user' => User::findOrFail($id)]);
    }
}
""",
    ),
    (
        "php",
        """class Cart {
    private $items = [];

    public function add($item, $qty = 1) {
        $this->items[$item] = ($this->items[$item] ?? 0) + $qty;
    }

    public function total() {
        return array_sum($this->items);
    }
}
""",
    ),
    (
        "php",
        """$pdo = new PDO($dsn, $user, $password);
$stmt = $pdo->prepare('SELECT * FROM users WHERE id = ?');
$stmt->execute([$id]);
foreach ($stmt->fetchAll() as $row) {
    echo $row['name'] . "\\n";
}
""",
    ),
    # -- sql
    (
        "sql",
        """SELECT u.id, u.name, COUNT(o.id) AS orders
FROM users u
LEFT JOIN orders o ON o.user_id = u.id
WHERE u.active = true
GROUP BY u.id, u.name
ORDER BY orders DESC
LIMIT 10;
""",
    ),
    (
        "sql",
        """CREATE TABLE products (
    id SERIAL PRIMARY KEY,
    name VARCHAR(200) NOT NULL,
    price NUMERIC(10, 2) NOT NULL,
    created_at TIMESTAMP DEFAULT now()
);
CREATE INDEX products_name_idx ON products (name);
""",
    ),
    (
        "sql",
        """insert into accounts (id, owner, balance)
values (1, 'alice', 100),
       (2, 'bob', 50);
update accounts set balance = balance - 10 where id = 1;
update accounts set balance = balance + 10 where id = 2;
delete from accounts where balance = 0;
""",
    ),
    (
        "sql",
        """WITH recent AS (
    SELECT user_id, max(created_at) AS last_seen
    FROM events
    GROUP BY user_id
)
SELECT * FROM recent
WHERE last_seen > now() - interval '7 days';
""",
    ),
    # -- shell
    (
        "shell",
        """#!/bin/bash
set -euo pipefail

for f in *.log; do
  gzip "$f"
done
echo "done"
""",
    ),
    (
        "shell",
        """if [ -z "$HOME" ]; then
  echo "HOME is not set" >&2
  exit 1
fi
export PATH="$HOME/bin:$PATH"
mkdir -p "$HOME/bin"
""",
    ),
    (
        "shell",
        """sudo apt-get update
sudo apt-get install -y git curl
git clone https://github.com/example/repo.git
cd repo
./configure && make && sudo make install
""",
    ),
    (
        "shell",
        """count=$(ls -1 /var/log | wc -l)
echo "there are $count files"
ps aux | grep python | awk '{print $2}' | xargs kill 2>/dev/null
while read -r line; do
  echo "$line"
done < input.txt
""",
    ),
    # -- html
    (
        "html",
        """<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>Hello</title>
</head>
<body><p>Hello world</p></body>
</html>
""",
    ),
    (
        "html",
        """<div class="card">
  <h2 class="card-title">Title</h2>
  <p class="card-text">Some text.</p>
  <a href="/more" class="btn">More</a>
</div>
""",
    ),
    (
        "html",
        """<form action="/login" method="post">
  <label for="user">User</label>
  <input id="user" name="user" type="text">
  <input name="password" type="password">
  <button type="submit">Sign in</button>
</form>
""",
    ),
    (
        "html",
        """<ul class="nav">
  <li><a href="/">Home</a></li>
  <li><a href="/about">About</a></li>
  <li><a href="/contact">Contact</a></li>
</ul>
<footer><span>2026</span></footer>
""",
    ),
]
